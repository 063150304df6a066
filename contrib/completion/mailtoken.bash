# bash completion for mailtoken(1): commands, options, and the account
# names from the configuration file that mailtoken itself would read.
# Installed as .../bash-completion/completions/mailtoken.

# Prints the account sections of the configuration, one per line.
_mailtoken_accounts()
{
    local file=$1
    if [[ -z $file ]]; then
        if [[ -n ${MAILTOKEN_CONFIG-} ]]; then
            file=$MAILTOKEN_CONFIG
        elif [[ ${XDG_CONFIG_HOME-} == /* && -e $XDG_CONFIG_HOME/mailtoken/config ]]; then
            file=$XDG_CONFIG_HOME/mailtoken/config
        elif [[ ${XDG_CONFIG_HOME-} != /* && -e $HOME/.config/mailtoken/config ]]; then
            file=$HOME/.config/mailtoken/config
        else
            file=/etc/mailtoken/mailtoken.conf
        fi
    fi
    [[ -r $file ]] || return 0
    # Section headers as libinih reads them: "[name]" after optional white space.
    sed -n 's/^[[:space:]]*\[\([^]]*\)\].*/\1/p' -- "$file" 2>/dev/null |
        grep -vx 'defaults'
}

_mailtoken()
{
    local cur prev words cword
    _init_completion || return

    local commands="authorize token status check tunnel import forget serve"
    local config="" command="" i
    local -a args=()

    # Find --config, the command and its arguments among the words before
    # the cursor; option values are not arguments.
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --config | -c)
                ((i++))
                config=${words[i]}
                ;;
            --config=*)
                config=${words[i]#--config=}
                ;;
            --timeout | --mech)
                ((i++))
                ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=${words[i]}
                else
                    args+=("${words[i]}")
                fi
                ;;
        esac
    done
    # A leading ~ in --config reaches mailtoken expanded by the shell.
    config=${config/#\~/$HOME}

    if [[ -z $command ]]; then
        case $prev in
            --config | -c)
                _filedir
                return
                ;;
        esac
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--config --verbose --help --version' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    local options="" accounts
    case $command in
        authorize) options="--device --manual --no-browser --timeout" ;;
        token) options="--refresh" ;;
        check | tunnel) options="--mech" ;;
    esac

    case $prev in
        --timeout)
            return
            ;;
        --mech)
            COMPREPLY=($(compgen -W 'xoauth2 oauthbearer' -- "$cur"))
            return
            ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
        return
    fi

    # The first argument is the account; check and tunnel take a protocol next.
    if ((${#args[@]} == 0)); then
        accounts=$(_mailtoken_accounts "$config")
        COMPREPLY=($(compgen -W "$accounts" -- "$cur"))
        return
    fi
    if ((${#args[@]} == 1)); then
        case $command in
            check) COMPREPLY=($(compgen -W 'imap pop3 smtp' -- "$cur")) ;;
            tunnel) COMPREPLY=($(compgen -W 'imap' -- "$cur")) ;;
        esac
    fi
} &&
    complete -F _mailtoken mailtoken
