"""The metadata engine: load, check and compile a tenant's config bundle."""
