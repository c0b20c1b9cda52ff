"""The record type designer and the adopt-a-table page."""
