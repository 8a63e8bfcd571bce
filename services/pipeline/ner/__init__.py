"""Arabic named-entity recognition: CRF tagger, knowledge base and entity linking."""
