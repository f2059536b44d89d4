// _TestSupport module: see README.md (Where things live).
