from yolocls.cli.app import main

main()
