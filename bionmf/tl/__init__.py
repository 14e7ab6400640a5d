"""AnnData-level tools."""
