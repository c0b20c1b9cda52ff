from workspace.cli import main

main()
