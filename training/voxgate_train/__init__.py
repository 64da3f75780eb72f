"""voxgate's training recipe: prepare -> synthesise -> train -> export -> evaluate (see training/README.md)."""
