"""Layer 1: data — languages, text analysis, file readers, the shipped bitext, lexicons and ir_datasets collections."""
