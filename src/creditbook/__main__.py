from creditbook.cli import main

main()
