"""The `spinop` commands other than `run`: `plan`, `import` and `demo`. Each calls the operator's layers below it and
none calls another (`[tool.importlinter]` in pyproject.toml); the operator never imports them."""
