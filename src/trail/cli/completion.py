"""`trail completion SHELL`: the script with which bash, zsh or fish complete trail's commands and options."""

from __future__ import annotations

import click

# What click's completion scripts set to ask the program for its completions; click derives it from the name the
# program is run as, and trail.cli.main always passes "trail".
COMPLETE_VAR = "_TRAIL_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(("bash", "zsh", "fish")))
def completion(shell: str) -> None:
    """Print the script with which bash, zsh or fish complete trail's commands, options and arguments.

    The script asks trail itself what to offer at each Tab (commands, options, agents, formats), so it stays right
    as trail changes. Install it once:

    \b
      bash  add to ~/.bashrc (bash 4.4 or later):  eval "$(trail completion bash)"
      zsh   add to ~/.zshrc, after compinit:       eval "$(trail completion zsh)"
            (or save it as _trail in a folder of your fpath)
      fish  save it in fish's completions folder:
            trail completion fish > ~/.config/fish/completions/trail.fish

    It takes effect in the shells started after. The eval lines run trail each time a shell starts; saving the
    script to a file and sourcing that file instead is faster.

    \b
    Examples:
      eval "$(trail completion bash)"
      trail completion zsh > ~/.zfunc/_trail
      trail completion fish > ~/.config/fish/completions/trail.fish
    """
    from click.shell_completion import get_completion_class

    from trail.cli import cli

    shell_complete = get_completion_class(shell)
    assert shell_complete is not None  # click.Choice only lets the shells click knows through
    click.echo(shell_complete(cli, {}, "trail", COMPLETE_VAR).source())
