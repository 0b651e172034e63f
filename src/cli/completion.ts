// `medic completion bash|zsh`: a shell completion script for every command and its flags, made
// from the command table itself, so it never lists a flag medic does not take.
import { EXIT, type Command } from '../command/command';
import { loadCommands } from './commands';

interface Spec {
  name: string;
  flags: string[];
  verbs: string[];
}

/** Positional words some commands take, completed like subcommands. */
const VERBS: Record<string, string[]> = { demo: ['break', 'fix', 'serve'], completion: ['bash', 'zsh'], trigger: ['backtest'] };

function specs(commands: Command[]): Spec[] {
  return commands.map((c) => ({
    name: c.name,
    flags: [...Object.keys(c.options).map((o) => `--${o}`), '--help'],
    verbs: VERBS[c.name] ?? [],
  }));
}

/** Flags whose value is a path: the shell completes file names after them. */
function pathFlags(commands: Command[]): string[] {
  const flags = new Set<string>();
  for (const c of commands) {
    for (const [name, o] of Object.entries(c.options)) {
      if (o.valueName === 'FILE' || o.valueName === 'DIR') {
        flags.add(`--${name}`);
        if (o.short) flags.add(`-${o.short}`);
      }
    }
  }
  return [...flags].sort();
}

export function bashCompletion(commands: Command[]): string {
  const cases = specs(commands)
    .map((s) => `    ${s.name}) words="${[...s.verbs, ...s.flags].join(' ')}" ;;`)
    .join('\n');
  return `# medic bash completion: source <(medic completion bash)  (or save it in /etc/bash_completion.d/medic)
_medic() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(' ')} help --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) words="" ;;
  esac
  case "\${COMP_WORDS[COMP_CWORD-1]}" in
    ${pathFlags(commands).join('|')})
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _medic medic
`;
}

export function zshCompletion(commands: Command[]): string {
  const esc = (s: string): string => s.replace(/'/g, `'\\''`).replace(/:/g, '\\:');
  const cmds = commands.map((c) => `    '${c.name}:${esc(c.summary)}'`).join('\n');
  const cases = specs(commands)
    .map((s) => `      ${s.name}) compadd -- ${[...s.verbs, ...s.flags].join(' ')} ;;`)
    .join('\n');
  return `#compdef medic
# medic zsh completion: medic completion zsh > "\${fpath[1]}/_medic"  (or: source <(medic completion zsh))
_medic() {
  local -a commands
  commands=(
${cmds}
  )
  if (( CURRENT == 2 )); then
    _describe 'medic command' commands
    return
  fi
  case $words[2] in
${cases}
  esac
}
if [ "$funcstack[1]" = "_medic" ]; then _medic "$@"; else compdef _medic medic; fi
`;
}

export const completionCommand: Command = {
  name: 'completion',
  summary: 'Print a shell completion script: medic completion bash|zsh.',
  usage: 'completion bash|zsh',
  details: 'bash: source <(medic completion bash)\nzsh:  source <(medic completion zsh)',
  options: {},
  allowPositionals: true,
  async run(ctx) {
    const [shell, ...extra] = ctx.positionals;
    if (extra.length || (shell !== 'bash' && shell !== 'zsh')) {
      ctx.stderr.write('medic completion: say "bash" or "zsh": medic completion bash\n');
      return EXIT.usage;
    }
    // Every command's flags: this loads every role's code, once, when the shell sets up completion.
    const commands = await loadCommands();
    ctx.stdout.write(shell === 'bash' ? bashCompletion(commands) : zshCompletion(commands));
    return EXIT.ok;
  },
};
