"""KMC Aduan: the complaint workflow of Ketapang Media Center."""
