"""Array-level algorithms: solvers, seeding, consensus, metrics, rank selection. No AnnData here."""
