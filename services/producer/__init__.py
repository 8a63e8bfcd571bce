"""The producer: streams article files to the raw topic, in a batch or by watching a folder."""
