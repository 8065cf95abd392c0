"""What a block's dependencies say about parallelism: graphs, critical paths, hotspots, simulation."""
