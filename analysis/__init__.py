"""Analysis of PointNet runs: firing statistics per cell and population, compared with the Allen data."""
