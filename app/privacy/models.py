"""Privacy rights and retention live here (see the privacy issue); no models yet."""
