

min_age



name
	
alice