"""Our trained code/query encoders (torch): tokenisation, vocabulary, models, training, save/load."""
