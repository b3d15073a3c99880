from backprop_cli.cli import run

run()
