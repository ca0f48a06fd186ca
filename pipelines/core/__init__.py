"""What every Beam stage shares: runner options, stage keys and manifests, the sharded job shape, progress."""
