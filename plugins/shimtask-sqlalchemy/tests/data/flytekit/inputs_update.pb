

name	

bob