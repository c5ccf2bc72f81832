"""tbench."""
