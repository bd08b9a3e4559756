"""nn: layers that own parameters and state. Each file adds its import here."""
