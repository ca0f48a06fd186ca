"""A real S3 server for the object-store tests: moto in server mode on 127.0.0.1, reached over HTTP by
s3fs exactly as a cloud bucket would be. The endpoint and credentials go into the environment, as a user's
would, before any Beam or Dask worker process starts, so the workers inherit them."""

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ENV = {"AWS_ACCESS_KEY_ID": "storyteller-test", "AWS_SECRET_ACCESS_KEY": "storyteller-test",
       "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server() -> Iterator[str]:
    """Start the server, set the environment, yield a fresh bucket's URL; restore everything after."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {name: os.environ.get(name) for name in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}")
    try:
        import s3fs

        bucket = f"storyteller-{uuid.uuid4().hex[:8]}"
        s3fs.S3FileSystem(use_listings_cache=False).mkdir(bucket)
        yield f"s3://{bucket}"
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
