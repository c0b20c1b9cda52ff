"""Where a workspace's record tables live: the managed database or the customer's own MySQL,
with a connection test, readable SQL views, the write gate and moves between them."""
