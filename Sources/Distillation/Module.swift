// Distillation module: see README.md (Where things live).
