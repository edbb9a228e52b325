from blvprof.cli import main

main()
