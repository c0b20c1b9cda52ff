"""Where a workspace's file bytes live (local folder, S3, FTP), and migrating them from one
backend to another."""
