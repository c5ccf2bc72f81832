"""Container and release tooling: the compose test, the Docker engine and base image, the lock."""
