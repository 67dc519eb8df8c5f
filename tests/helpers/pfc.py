"""Numbers the PFC core's tests share."""

RATE = 10e6          # a dilated link rate: 400G / 40000
XOFF, XON = 10_000, 6_000
MS = 1_000_000
POLL = 10 * MS
