//! The config file (DESIGN.md, "Contracts"): parsing and validation.
