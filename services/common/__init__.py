"""Code shared by the producer, the pipeline worker and the downstream consumer."""
