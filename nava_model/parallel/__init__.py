"""Running NAVA over several processes and devices with torch.distributed."""
