"""The downstream consumer: follows the enriched topic (``akhbar tail``)."""
