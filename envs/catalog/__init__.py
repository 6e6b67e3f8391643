"""The bundled environments, one module each; their tasks live in `tasks/<environment>/`."""
