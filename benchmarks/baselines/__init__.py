"""What a user would otherwise run: baselines that difftest's benchmarks compare with."""
