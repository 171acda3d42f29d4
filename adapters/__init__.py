"""The adapter files shipped with metrictap: one TOML file per framework, all with one schema."""
