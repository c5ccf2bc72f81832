"""`tbench run`: start (or reach) each target, verify it, drive Locust, sample, write results."""
