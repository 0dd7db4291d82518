"""Photos and how they become model inputs: reading them (`imaging`) and the preprocessing recipe (`preprocess`)."""
