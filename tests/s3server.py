"""A real S3-compatible server for tests: moto in server mode on 127.0.0.1.

The server runs in a thread of the test process and listens on a free port;
`shimtask execute` subprocesses reach it over HTTP through s3fs, configured the
way a Flyte pod is (``FLYTE_AWS_ENDPOINT`` and friends, or the standard
``AWS_*`` variables).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ACCESS_KEY = "shimtask-test-key"
SECRET_KEY = "shimtask-test-secret"  # moto accepts any; a pod must still send one


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def flyte_env(self) -> dict[str, str]:
        """What Flyte's sandbox puts in a task pod's environment (flytekit's names)."""
        return {
            "FLYTE_AWS_ENDPOINT": self.endpoint,
            "FLYTE_AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "FLYTE_AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def aws_env(self) -> dict[str, str]:
        """The standard AWS variables, read by botocore itself."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def filesystem(self) -> Any:
        """An s3fs filesystem for the test itself, never cached between uses."""
        import s3fs

        return s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, skip_instance_cache=True,
                                 use_listings_cache=False,
                                 client_kwargs={"endpoint_url": self.endpoint})

    def new_bucket(self) -> str:
        name = f"shimtask-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        return name


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """moto's ThreadedMotoServer on 127.0.0.1, on a port the OS picks."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
