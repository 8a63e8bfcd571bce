"""The enrichment pipeline: broker-free stages, the chain that orders them, and the Faust driver."""
