"""The sample generator (`gtlake sample`) and the scoring of a review queue against its planted mistakes."""
