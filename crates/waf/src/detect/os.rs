//! Operating-system attacks: path traversal and local file inclusion, sensitive files, remote
//! file inclusion, Unix and Windows command injection, PowerShell.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // Traversal: `../` at a path boundary, or repeated; sensitive OS and app files (the
    // password files after a boundary or a space; other system paths only where a path starts
    // a value or follows traversal, `=`, `:` or the like, or when a value is one word, a
    // command, and a system path (`ll /var/www/`): prose and code name them after a space, a
    // backtick or a quote,
    // "see `/etc/hosts`"; bare file names only after a path separator or at the start of a
    // value, and ending it: prose says "edit your .htaccess" or "boot.ini is a file", an attack
    // sends the name, perhaps with a suffix after a cut-off NUL).
    (Family::Traversal, r"(?:^|[/\\=:;|])\.{2,}[/\\]"),
    (Family::Traversal, r"[/\\]\.\.(?:[/\\;]|$)"),
    (Family::Traversal, r"\.\.[/\\]+\.\."),
    (
        Family::Traversal,
        r"(?:^|[/\\ ])etc[/\\]+(?:passwd|shadow|sudoers|master\.passwd)|^\s*['\x22]?[a-z][a-z0-9_-]*['\x22]?\s+(?:-[a-z]+\s+)*/+(?:etc|usr|var|proc|home|root|opt|srv|sys|boot)/\S*$|(?:^|[^\s`\x27\x22a-z0-9/\\])[/\\]*(?:etc[/\\]+(?:group|hosts|issue|crontab|security|httpd|apache2?|nginx|mysql|php)|proc[/\\]+(?:self|\d+)[/\\]|(?:usr|var)[/\\]+(?:local|log|lib|www)[/\\]|(?:var[/\\]+)?run[/\\]+secrets[/\\]|windows[/\\]+(?:win\.ini|system32|system\.ini|repair))|(?:^|[/\\])(?:\.git[/\\]|\.svn[/\\]|\.ssh[/\\]|\.aws[/\\]+credentials|\.env(?:$|\.))|(?:^|[/\\])(?:boot\.ini|win\.ini|\.htaccess|\.htpasswd|id_[rd]sa|\.bash_(?:history|profile|rc)|wp-config\.php|web\.config)(?:$|[?#;&'\x22<>|)]|\.[a-z0-9~]{1,6}$)",
    ),
    (
        Family::Traversal,
        r"^(?:/|[a-z]:[/\\])?(?:etc|proc|var|windows|winnt|usr|root|home)[/\\]+\S*(?:passwd|shadow|\.ini|\.log|\.conf|environ|cmdline|\.key|\.pem)\b",
    ),
    // RFI: a URL to a raw IP address, or ending in `?` (to cut off an appended suffix).
    (Family::Rfi, r"^(?:https?|ftps?)://(?:\d{1,3}\.){3}\d{1,3}"),
    (Family::Rfi, r"^(?:https?|ftps?)://[^\s?#]+[?#]+$"),
    (
        Family::Rfi,
        r"(?:include|require)(?:_once)?\s*\(?\s*['\x22]?(?:https?|ftps?|file)://",
    ),
    (
        Family::Rfi,
        r"^(?:file|ftps?|gopher|dict|ldaps?|jar|tftp|netdoc|mailto):(?:$|\S)",
    ),
    // Unix and Windows command injection: a command after a shell separator or substitution.
    // Words that are no English (`whoami`, `ifconfig`) may stand alone; words that also are
    // English or names (`cat`, `time`, `more`, `id`, `Python`) need shell syntax after them:
    // a flag, a path, a quote, a redirection, or nothing at all right after `;`/`|`/backtick.
    (
        Family::CommandInjection,
        r"(?:[;&|\n\r`]|\$\(|\{)\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|netcat|ncat|bash|zsh|ksh|csh|tcsh|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|telnet|chmod|chown|rm|killall|pkill|passwd|useradd|adduser|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|ls|grep|awk|gawk|sed|xargs|base64|xxd|printenv|netstat|pwd|hostname|printf|mkdir|gzip|unzip|gcc|nmap|vim|uniq|tasklist|taskkill|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|aptitude|bsdtar|cpulimit|uconv|lastlogin|ssh-copy-id)(?:$|[\s<>|;&`)(]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"(?:[;&|\n\r`]|\$\(|\{)\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:curl|nc|sh|dash|python[0-9.]*|perl|ruby|php|lua|node|dig|ping|kill|su|id|cat|tac|nl|more|less|head|tail|find|env|ps|echo|sleep|touch|cp|mv|tar|zip|make|vi|ex|exec|eval|time|timeout|wc|cut|sort|strings|set|dir|type|copy|del|net|reg|sc|start|call|column|fold|comm|bridge|perf|trap|date|top|shutdown|pipx?|chef)(?:\s+(?:[-/.$~\x22'%\\<>]|[a-z0-9_]+\s*[;<>]|[a-z0-9_-]+\.[a-z][a-z0-9]{0,3}(?:$|\s|[;<>])|[a-z]+://)|\s*[<>;`]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"(?:[;|`]|\$\()(?:curl|nc|sh|dash|python[0-9.]*|perl|ruby|php|lua|node|dig|ping|su|id|cat|tac|nl|more|less|head|tail|find|env|ps|echo|sleep|wc|top|date|set|dir|type|net|ver|vol|tasklist|who|last|lastlog|uptime|history|df|du|free|vi|vim|ex)\s*(?:$|[;|&`)(])",
    ),
    (
        Family::CommandInjection,
        r"^\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|curl|netcat|ncat|nc|bash|sh|zsh|ksh|dash|csh|tcsh|python[0-9.]*|perl|ruby|php|lua|node|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|dig|ping|telnet|chmod|chown|rm|kill|killall|pkill|passwd|useradd|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|su|id|ls|cat|tac|nl|more|less|head|tail|grep|awk|gawk|sed|find|xargs|base64|xxd|od|env|printenv|ps|netstat|pwd|hostname|echo|printf|sleep|touch|mkdir|cp|mv|tar|zip|unzip|gzip|gcc|cc|make|nmap|vi|vim|ex|exec|eval|time|timeout|wc|cut|sort|uniq|strings|set|dir|type|copy|del|net|tasklist|taskkill|reg|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|sc|start|call|perf)(?:\s+[-/.$~\x22'%]|\s*[<>|;&`]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"\$\{?ifs\b|\$\((?:[a-z]|\s)|`\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|id|ls|cat|tac|nl|more|less|head|tail|echo|printf|pwd|env|printenv|ps|sleep|ping|curl|wget|nc|ncat|netcat|sh|bash|zsh|dash|ksh|python[0-9.]*|perl|ruby|php|node|lua|find|grep|awk|sed|cut|sort|uniq|wc|od|xxd|base64|rev|tr|dd|cp|mv|rm|chmod|chown|touch|mkdir|tar|zip|unzip|gzip|ifconfig|ipconfig|netstat|hostname|nslookup|dig|host|whois|telnet|ssh|scp|ftp|tftp|sudo|su|kill|date|time|top|who|w|last|uptime|dir|type|set|ver|cmd|powershell|eval|exec|expr|seq|yes|true|false|test|which|strings|file|stat|readlink|realpath|basename|dirname|timeout|nohup)(?:[\s`;|&<>]|\$\{?ifs)|\$\{[a-z_]+:[0-9]|/(?:usr/)?s?bin/[a-z]|%comspec%|\bfor\s+/[fdlr]\b|\bcmd(?:\.exe)?\s*/[ck]\b|\b(?:powershell|pwsh)(?:\.exe)?\s+[-/]|\bshell_exec\b",
    ),
    (Family::CommandInjection, r"\(\)\s*\{[^}]*;\s*\}"),
    (
        Family::CommandInjection,
        r"(?:^|[;&|\s])(?:[a-z]:\\|\\\\)[^\s]*\.(?:exe|bat|cmd|ps1|vbs)\b",
    ),
    // ---- Families widened after measuring the CRS development set (see README). ----
    // Command lines: binaries that are no English word may start a value; English-looking
    // ones (`time`, `who`, `more`) only count after a shell separator (patterns above).
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:strace|ltrace|visudo|sudoedit|cscli|ansible(?:-[a-z]+)?|chef-[a-z]+|irb|jrunscript|jjs|rmt(?:-[a-z]+)?|flock|nohup|setsid|busybox|smbclient|sqlite3|mongosh|redis-cli|crictl|systemctl|journalctl|iptables|tcpdump|tshark|gdb|lldb|valgrind|ldd|objdump|readelf|hexdump|shred|aa-[a-z]+|apt-get|dpkg|cpan|javac|tclsh|mawk|nawk|busctl|dmesg|lsof|fuser|pgrep|nproc|getent|chattr|lsattr|setcap|getcap|mknod|mkfifo|losetup|umount|chroot|unshare|nsenter|capsh|runuser|doas|pkexec|base32|uuencode|uudecode|ssh-keygen|ssh-keyscan|wget2|aria2c|lwp-(?:download|request)|w3m|elinks|whoami|ifconfig|ipconfig|netcat|ncat|socat|nmap|masscan)(?:$|\s|[<>|;&`)(])",
    ),
    (
        Family::CommandInjection,
        r"(?:[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:time|who|w|more|less|cut|sort|find|head|tail|diff|file|test|true|false|yes|read|exit|export|alias|unset|source|nice|env|id|ls|cat|nl|tac|rev|od|tee|which|whereis|locate|last|lastlog|users|groups|ip|ss|route|arp|host|dig|whois|traceroute|tracepath|mtr|curl|wget|bash|sh|mysql|psql|docker|kubectl|podman|npm|npx|pip[0-9]?|gem|go|cargo|java|openssl|rsync|gpg|tmux|screen|watch|at|script|expect|mount|service|wall|write|strings|dd|apt|yum|dnf|rpm|composer|puppet|knife|salt-[a-z]+)(?:\s+(?:[-/.$~\x22'%]|[a-z0-9_]+\s*[;|&<>]))",
    ),
    // A command word that is no prose after a shell separator, ending the value or followed by
    // another separator or a comment (`;id`, `&&id&&`, `\r\nid`, `|uname # x`), or with the
    // arguments it is always given (`;ps aux`, `;ip addr`, `; sleep 10`). A separator with a
    // space after it counts only when doubled or starting the value, and `; ` or a leading `| `
    // only before the end or a comment: `Passport & ID` and a table's `| ID |` are text.
    // ANSI-C quoting that spells a command in escapes (`$'\151\144'`).
    (
        Family::CommandInjection,
        r"(?:(?:[\n\r`]|&&|\|\||^\s*[;&]|\$\()\s*|[;&|])(?:id|uname|whoami|ifconfig|ipconfig|pwd|ls|uptime|hostname|netstat|printenv|env|ps|ps\s+(?:aux|-?ef|-[a-z]+)|ip\s+(?:a|addr|address|r|route|link|neigh)|ls\s+-[a-z]+|sleep\s+\d+)\s*(?:$|[;&|`)]|#)|(?:;|^\s*\|)\s+(?:id|uname|whoami|ifconfig|ipconfig|pwd|ls|uptime|hostname|netstat|printenv|env|ps|ps\s+(?:aux|-?ef|-[a-z]+)|ip\s+(?:a|addr|address|r|route|link|neigh)|ls\s+-[a-z]+|sleep\s+\d+)\s*(?:$|#)|;\s*read\s*;|\$'(?:\\[0-7]{1,3}|\\x[0-9a-f]{1,2}|\\u[0-9a-f]{4})+'",
    ),
    // Windows delays used as blind probes (`; waitfor /t 5 pause`, `& choice /t 5 /d y`).
    (
        Family::WindowsCommand,
        r"(?:^|[;&|\n])\s*(?:waitfor\s+(?:/si\b|/t\s+\d)|choice\s+(?:/[a-z]+\s+)*/t\s+\d|timeout\s+/t\s+\d)",
    ),
    // Windows batch syntax and tools. A batch comparison has a `%VAR%`, `!VAR!` or quoted
    // operand, `==` without spaces, a batch operator (`EQU`) or a command after it; Python's
    // `if x == 1:` has none.
    // `IF EXIST` names a file, `IF DEFINED` a variable and then a command (`If defined, …` is
    // prose).
    (
        Family::WindowsCommand,
        r"(?:^|[;&|\n])\s*(?:if(?:\s*/i)?\s+(?:not\s+)?(?:exist\s+\S+\s+\S|defined\s+\S+\s+(?:echo|set|goto|call|start|cmd|del|copy|type|dir|exit|[(@])|errorlevel\s+\d+\s+\S|cmdextversion\s+\d+\s+\S)|if(?:\s*/i)?\s+(?:not\s+)?(?:\x22[^\x22\n]*\x22|\S*[%!]\S*)\s*(?:==|\b(?:equ|neq|lss|leq|gtr|geq)\b)|if(?:\s*/i)?\s+(?:not\s+)?[^\s=]+==[^\s:]+\s+\S|if(?:\s*/i)?\s+(?:not\s+)?\S+\s*==\s*\S+\s+(?:echo|set|goto|call|exit|start|del|copy|move|type|dir|cmd|rem|pause|cls|md|rd|ren|shift|[(@])|if(?:\s*/i)?\s+(?:not\s+)?\S+\s+(?:equ|neq|lss|leq|gtr|geq)\s+\S|for\s+(?:/[dlrf]\s+(?:\S+\s+)?)?%%?~?[a-z]\s+in\s*\(|for\s+(?:/[dlrf]\s+(?:\S+\s+)?)?%%?\S+\s+in\s*\([^)]*\)\s*do\b|@echo\s+o(?:ff|n)\b|(?:(?:regedit|bcdboot|bcdedit|vssadmin|wevtutil|icacls|takeown|cacls|attrib|diskpart|iwr|iex|iwmi|gwmi|invoke-(?:webrequest|expression|restmethod|wmimethod)|get-wmiobject|start-process|new-object|set-executionpolicy|cmstp|msiexec|forfiles|pcalua|odbcconf|installutil|regasm|regsvcs|msbuild|wmic|bitsadmin|certutil|schtasks)\b|net1?\s+(?:user|localgroup|share|use|view|start|stop)\b(?:\s*$|\s*[/\\&|;]|\s+\S+\s*(?:$|[&|;]|\S*\s*/(?:add|delete|domain|active)))))",
    ),
    (
        Family::WindowsCommand,
        r"%(?:comspec|systemroot|windir|temp|tmp|appdata|userprofile|programfiles|errorlevel|cd|path|random|username|computername)%|(?:\^[a-z]){3}|\b(?:hkey_(?:local_machine|current_user|classes_root|users)|hklm|hkcu)\\",
    ),
    // Shell function definitions (Shellshock and friends) and history expansion.
    (Family::CommandInjection, r"\(\)\s*\{"),
    // ---- Shell syntax only code has (CRS 932130/932190/932200/932240/932280). ----
    // Glob patterns standing for a path segment (`/???/??t`, `/bi[n]/c?t`, `/et*/*wd`), or
    // for a file under a system directory (`/etc/pa[s]swd`).
    (
        Family::CommandInjection,
        r"(?:^|[\s;|&=<>`(+])/(?:[a-z0-9_.-]+/)*(?:\?[a-z0-9_.?*-]*|[a-z0-9_.-]+[?*][a-z0-9_.?*-]*|[a-z0-9_.-]*\[!?[a-z/](?:-[a-z])?[a-z/]*\][a-z0-9_.?*-]*)/",
    ),
    (
        Family::CommandInjection,
        r"/(?:etc|s?bin|usr|proc|dev|tmp|var|home|root|lib|opt|sys)/(?:[a-z0-9_.-]+/)*[a-z0-9_.-]*(?:\[!?[a-z](?:-[a-z])?[a-z]*\]|\?)[a-z0-9_.?*-]*(?:$|[\s;|&])",
    ),
    // Brace expansion that builds a command: an empty element (`{,ifconfig}`, `{id,}`), braces
    // glued to a word (`c{a,oun}t`, `{l,-lh}s`) or a flag element (`{nc,-nlvp,777}`).
    (
        Family::CommandInjection,
        r"\{,[^\s{}\x22:]+\}|\{[^\s{}\x22:,]+,\}|[a-z]\{[a-z-]*,[a-z,-]*\}|\{[a-z-]*,[a-z,-]*\}[a-z]|\{[^\s{}\x22:,]+,-{1,2}[a-z]",
    ),
    // Process substitution, arithmetic expansion, parameter-expansion operators, empty
    // substitutions inside a word (`pi$()ng`, `pi``ng`), bash's /dev/tcp sockets, and output
    // redirected into a scratch directory.
    (
        Family::CommandInjection,
        r"(?:^|[\s;|&=(])[<>]\([a-z][^()]*\)|(?:^|[\s;|&=(])[<>]\(\)|[a-z][<>]\(\)[a-z]|\$\[|\$\(\(|\$\(\)|[a-z]``[a-z]|\$\{[a-z_][a-z0-9_]*(?:[#%^,]|:[-=+?])|\$\{!|/dev/(?:tcp|udp)/|(?:^|[\s;|&0-9])>{1,2}\s*/(?:tmp|dev/shm|var/tmp)/",
    ),
    // A variable in command position with a flag (`$SHELL -c`, `&&$a -nlvp`), or shell
    // assignments chained into a variable use (`a=/etc&&c=cat&&$c $a`).
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n`(])\s*\$\{?[a-z_][a-z0-9_]*\}?\s+-{1,2}[a-z]|(?:^|[;&|\n\s])[a-z_][a-z0-9_]*=[^\s;&|]*(?:;|&&|\|\|)\s*\$[a-z_{]",
    ),
    // Command prefixes that run what follows (`time sh -c …`, `cpulimit -l 100 -f whoami`),
    // argv lists joined by commas (`-wrapper sh,-c,id`), network tools pointed at a host.
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n`]|\$\()\s*(?:time|nice|nohup|timeout(?:\s+\d+[smh]?)?|cpulimit(?:\s+-[a-z]+(?:\s+\d+)?)*)\s+(?:-[a-z]+\s+)*(?:[a-z0-9_.-]*/)?(?:sh|bash|zsh|dash|ksh|curl|wget|nc|ncat|python[0-9.]*|perl|ruby|php|whoami|id|ifconfig|perf|env|ipconfig|uname|cat|ls|bsdtar|tar)(?:$|\s|[;|&])|(?:^|[\s,])(?:[a-z0-9_./-]*/)?(?:ba|z|k|da)?sh,-c,|\s-wrapper\s|(?:^|[;&|\n`]|\$\()\s*(?:curl|wget|ping|nc|ncat|ssh|telnet|nslookup|traceroute|ftp|lynx)\s+(?:-[a-z]+\s+)*(?:(?:[a-z0-9-]+\.)+[a-z]{2,}|\d{1,3}(?:\.\d{1,3}){3}|localhost|[a-z]+://)(?:$|[\s:/])",
    ),
    // Shell aliases (`alias a=curl`), sqlite3's shell escapes (`;.system id`), changing into a
    // directory before a command (`cd /;cd etc;…`).
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n])\s*alias\s+(?:[-+][a-z]+\+?\s+)*[^\s=]+=|(?:^|[;\n])\.(?:shell|system|sh|databases|dump|tables|import|output|once|load|open)\b(?:\s|$)|(?:^|[;&|\n])\s*cd\s+[/~.][a-z0-9_./~-]*\s*(?:;|&&|\|\|)",
    ),
    // Mail protocol commands injected after a line break (SMTP, IMAP with a tag, POP3).
    (
        Family::CommandInjection,
        r"\n(?:mail\s+from|rcpt\s+to)\s*:\s*<|\n(?:ehlo|helo)\s+[a-z0-9-]+(?:\.[a-z0-9-]+)+|\n[a-z]\d{3,}\s+(?:select|examine|create|delete|rename|subscribe|list|lsub|status|append|expunge|search|fetch|store|copy|uid|authenticate|login|logout|capability)\s|\n(?:retr|dele|uidl)\s+\d+\s*(?:\n|$)|\ntop\s+\d+\s+\d+\s*(?:\n|$)|\napop\s+\S+\s+[0-9a-f]{32}|^\s*\n(?:data|quit|rset|noop|help(?: \S+)?)\s*$",
    ),
    // Tilde expansion of the directory stack (`~+`, `~-1`) as a whole value.
    (Family::CommandInjection, r"^~[+-][0-9]*$"),
    // Piping into a shell (`… | sh`), a subshell running one (`(sh)0>…`), vim's shell escape
    // (`:!id`, `\!whoami`), bash history expansion as a whole value (`!!`, `!-1`).
    (
        Family::CommandInjection,
        r"\|\s*(?:[a-z0-9_./-]*/)?(?:sh|bash|zsh|dash|ksh)\s*(?:$|[;|&)`])|\(\s*(?:ba|z|k|da)?sh\s*\)\s*\d*[<>]|[\\:]!(?:[a-z0-9_./-]*/)?(?:whoami|id|sh|bash|pwd|ls|cat|uname|nc|curl|wget)\b|^!(?:!|-?\d+)(?:!-?\d+)*$",
    ),
    // Mail protocol commands the other way of writing (IMAP LIST/STORE with any tag, POP3
    // LIST/AUTH).
    (
        Family::CommandInjection,
        r"\n[a-z0-9]{1,8}\s+l(?:ist|sub)\s+\x22[^\x22\n]*\x22\s+\x22|\n[a-z0-9]{1,8}\s+(?:uid\s+)?store\s+[0-9:*,]+\s+[+-]?flags|\nlist\s+\d+\s*(?:\n|$)|\nauth\s+[a-z0-9-]+\s+[a-z0-9+/]{8,}=*\s*(?:\n|$)",
    ),
    // ---- Windows (the Windows rule group): cmd.exe and PowerShell. ----
    // cmd.exe started with a command switch, and cmd.exe built-ins or system tools pointed at
    // a drive, UNC or %VAR% path, at the start of a value or after a separator (`dir c:\`,
    // `| type C:\Windows\win.ini`, `copy \\host\share\x`). Prose names a drive without a
    // command word before it (`saved to C:\Users\ana`).
    (
        Family::WindowsCommand,
        r"\bcmd(?:\.exe)?\s*/[ckr]\b|(?:^|[;&|\n`(])\s*(?:dir|type|more|copy|xcopy|robocopy|move|del|erase|rd|rmdir|md|mkdir|ren|rename|attrib|icacls|cacls|takeown|findstr|find|tree|cd|chdir|pushd|start|call|expand|extrac32|replace|print|fc|comp|cipher|compact|wmic|certutil|bitsadmin|rundll32|regsvr32|mshta|cscript|wscript|msiexec|schtasks|net1?|reg|sc|tasklist|taskkill|shutdown|ping|nslookup|tracert|netstat|ipconfig|whoami|systeminfo|hostname|ver|vol|set|echo|powershell|pwsh)(?:\.exe)?\s+(?:/[a-z:-]+\s+)*['\x22]?(?:[a-z]:[\\/]|\\\\[a-z0-9._$-]+\\|%[a-z]+%)",
    ),
    // System tools named with `.exe` and given switches or chained (`ping.exe -n 3`,
    // `whoami.exe /all`, `net.exe user`); a bare mention (`is notepad.exe safe?`) is no
    // command line.
    (
        Family::WindowsCommand,
        r"\b(?:ping|nslookup|tracert|pathping|netstat|ipconfig|whoami|systeminfo|tasklist|taskkill|net1?|reg|sc|wmic|certutil|bitsadmin|cmd|rundll32|regsvr32|mshta|cscript|wscript|schtasks|at|findstr|hostname|msiexec|vssadmin|wevtutil|bcdedit|icacls|attrib|nltest|dsquery|arp|route|netsh|qwinsta|quser|klist|cmdkey|forfiles|curl|tftp|ftp|expand|makecab|esentutl|ntdsutil|sdelete|psexec(?:64)?|procdump(?:64)?|mimikatz|nc|nc64|ncat|plink|powershell|pwsh)\.exe(?:\s+(?:[-/][a-z?]|user\b|localgroup\b|share\b|view\b|use\b|query\b|add\b|\d{1,3}(?:\.\d{1,3}){3}|[a-z0-9-]+\.[a-z]{2,})|\s*[;&|]|\s*$)",
    ),
    // cmd.exe commands after a separator with Windows switches or nothing after them
    // (`| dir /s`, `& net user`, `&& whoami /all`, `& ping -n 10 127.0.0.1 &`, `|ver`); at the
    // start of a value only with a switch (a search for `type` or `dir` stays a word).
    (
        Family::WindowsCommand,
        r"(?:[;&|\n`]|^)\s*(?:dir|tree|whoami|systeminfo|tasklist|ipconfig|netstat|ping|tracert|pathping|nslookup|net1?\s+(?:user|localgroup|group|share|use|view|start|stop|session|accounts|config)|reg\s+(?:query|add|delete|save|export)|sc\s+(?:query|create|config|start|stop|qc)|wmic|ver|vol|type|set|echo|del|copy|move|ren|attrib|cacls|icacls|findstr)\b(?:\s+/[a-z?]\b|\s+-[nlwta]\s+\d)|[;&|\n`]\s*(?:dir|tree|whoami|systeminfo|tasklist|ipconfig|netstat|ver|vol|net\s+(?:user|localgroup|share|view|session|accounts|config)|wmic\s+[a-z]+)\s*(?:$|[;&|`])",
    ),
    // PowerShell started with switches or a quoted command, and encoded commands.
    (
        Family::PowerShell,
        r"\b(?:powershell|pwsh)(?:\.exe)?\s+(?:[-/][a-z]|['\x22&{])|(?:^|\s)-(?:enc|encodedcommand|ec|en|enco|encod|encode|encoded|encodedc)\s+[a-z0-9+/]{8,}={0,2}(?:\s|$|['\x22])|\s-(?:executionpolicy|exec|ep)\s+(?:bypass|unrestricted)\b|\s-(?:windowstyle|w)\s+hidden\b|\s-(?:noprofile|nop)\s+-[a-z]",
    ),
    // PowerShell cmdlets and aliases that fetch or run code (`IEX(…)`, `| iex`,
    // `Invoke-Expression $x`, `iwr -Uri …`), .NET types that download, decode or load code
    // (`New-Object Net.WebClient`, `.DownloadString(`, `[Convert]::FromBase64String`), and
    // environment variables in PowerShell's syntax (`$env:TEMP`). Cmdlet names are Verb-Noun,
    // no prose; the short aliases count only with code after them.
    (
        Family::PowerShell,
        r"\b(?:iex|iwr|irm|icm|saps|invoke-expression|invoke-webrequest|invoke-restmethod|invoke-command|start-process|start-job|start-bitstransfer)\s*(?:\(|\$|['\x22]|-(?:uri|filepath|scriptblock|command|argumentlist|outfile|usebasicparsing|windowstyle|verb|noprofile|computername)\b|\{)|\|\s*(?:iex|invoke-expression)\b|\b(?:invoke-expression|invoke-mimikatz|invoke-shellcode|invoke-obfuscation|invoke-wmimethod|invoke-cimmethod|set-executionpolicy|add-mppreference|set-mppreference|get-wmiobject|get-ciminstance|out-minidump|new-psdrive)\b|\bnew-object\s+(?:-typename\s+)?(?:system\.)?(?:net\.(?:webclient|sockets\.tcpclient)|io\.(?:memorystream|streamreader|compression\.[a-z]+)|-comobject\b)|\.(?:downloadstring|downloadfile|downloaddata|uploadstring|uploadfile|openread)\s*\(|\[(?:system\.)?(?:convert|text\.encoding|reflection\.assembly|io\.file|net\.webclient|diagnostics\.process|runtime\.interopservices\.marshal|scriptblock|io\.compression\.[a-z]+)\]\s*::|\$env:(?:comspec|temp|tmp|appdata|localappdata|userprofile|windir|systemroot|programdata|public|username|computername|path)\b|\b(?:get-childitem|gci|get-content|gc|remove-item|ri|copy-item)\s+(?:-[a-z]+\s+)*['\x22]?(?:[a-z]:[\\/]|\\\\)",
    ),
    // ---- Sensitive files asked for by name (CRS 930120/930130). ----
    // Windows system files on a drive path (`c:\boot.ini`, `C:/Windows/System32/config/SAM`),
    // IIS and ASP.NET configuration, shell histories and credentials in a home directory,
    // Java web application descriptors. Each needs a path separator or a drive before it.
    (
        Family::Traversal,
        r"(?:^|[^a-z0-9])[a-z]:[/\\]+(?:boot\.ini|autoexec\.bat|config\.sys|pagefile\.sys|hiberfil\.sys|inetpub[/\\]|users[/\\]+[^/\\]+[/\\]+(?:ntuser\.dat|appdata[/\\])|documents and settings[/\\])|[/\\](?:windows|winnt)[/\\]+(?:system32[/\\]+(?:config[/\\]+(?:sam|system|security|software)|drivers[/\\]+etc[/\\]+hosts|inetsrv[/\\])|repair[/\\]+sam|panther[/\\]+unattend|debug[/\\]+netsetup\.log|php\.ini|my\.ini)|(?:^|[/\\])(?:\.(?:bash|zsh|sh|mysql|psql|python|node_repl|rediscli|sqlite|lesshst)_history|\.viminfo|\.ds_store|\.(?:bash_logout|bashrc|zshrc|profile)|\.svn[/\\]+(?:entries|wc\.db)|\.git[/\\]+(?:config|head|index|logs[/\\])|web-inf[/\\]+(?:web|struts-config|applicationcontext)\.xml|id_(?:rsa|dsa|ecdsa|ed25519)(?:\.pub)?|authorized_keys|known_hosts|\.(?:my\.cnf|pgpass|netrc)|etc[/\\]+(?:hostname|resolv\.conf|fstab|profile|environment|motd|(?:redhat|debian|lsb|os)[-_]release|ssh[/\\]+sshd?_config|ssl[/\\]+private))(?:$|[?#;&\x22'<>|)])",
    ),
    // Backups and editor copies of server code or configuration at the end of a value
    // (`wp-config.php.bak`, `config.php~`, `settings.py.orig`, `.env.save`), and PHP source
    // asked for through the highlighter's extension (`index.phps`, `index.php.source`).
    (
        Family::Traversal,
        r"(?:^|[/\\])[a-z0-9_.-]*\.(?:php\d?|asp|aspx|jsp|cfm|py|rb|pl|config|conf|cnf|ini|ya?ml|json|xml|env|properties|sql)(?:\.(?:bak|backup|old|orig|save|sav|swp|swo|tmp|temp|copy|dist)|~)$|(?:^|[/\\])[a-z0-9_.-]*\.php(?:s|\.source)$|(?:^|[/\\])\.env\.(?:bak|backup|old|orig|save|swp|local|production|prod|dev|development|staging)$",
    ),
    // ---- Traversal and sensitive files (CRS 930100-930140). ----
    // `..;` (Tomcat path parameters) and dots/slashes written as hex literals (`0x2e0x2e/`).
    (
        Family::Traversal,
        r"(?:^|[/\\])\.\.;(?:[/\\.]|$)|(?:0x2e|\.)(?:0x2e|\.)(?:0x2f|0x5c)|0x2e0x2e[/\\]|(?:0x2f|0x5c)(?:0x2e|\.){1,2}(?:0x2f|0x5c|[/\\])",
    ),
    // Kernel interfaces under /proc and /sys, credentials of cloud and container tools, AI
    // coding assistants' configuration (API keys, MCP servers), database dumps as archives.
    (
        Family::Traversal,
        r"[/\\](?:proc[/\\]+(?:sys|net|interrupts|cpuinfo|meminfo|version|mounts|kcore|kallsyms|modules|partitions|sched_debug|slabinfo|swaps|config\.gz|iomem|ioports|filesystems|kmsg|keys|mtrr|acpi|bus|driver|tty)\b|sys[/\\]+(?:class|kernel|devices|block|bus|firmware|module|power|fs|hypervisor)\b)",
    ),
    (
        Family::Traversal,
        r"(?:^|[/\\])\.(?:docker|kube|azure|gcloud|gnupg|npmrc|pypirc|netrc|pgpass|boto|s3cfg|git-credentials|dockercfg|terraformrc|vault-token|claude|cursor|cursorrules|cursorignore|aiignore|aiexclude|continue|aider|roo|zed|cline|clinerules|kiro|windsurf|windsurfrules|rovodev|codex|opencode|a0proj|plandex|fabric|n8n|junie|gemini|copilot|amazonq|tabnine|codeium)(?:$|[/\\])",
    ),
    (
        Family::Traversal,
        r"/[^/\s]*\.(?:sql|bak|dump|db|sqlite|mdb)\.(?:zip|gz|tgz|tar|bz2|7z|rar|xz)$",
    ),
    // RFI: a bare scheme cut off by `?` (`http?`, `file:x?`), `file://` behind a prefix
    // (`url:file://`, `local_file://`), a URL to an IPv6 literal.
    (Family::Rfi, r"^(?:file|ftps?|https?)(?::\S*)?\?+$"),
    (Family::Rfi, r"(?:^|[^a-z0-9])(?:[a-z]+_)?file://"),
    (
        Family::Rfi,
        r"^(?:https?|ftps?)://\[?[0-9a-f]{1,4}:[0-9a-f:]*:[0-9a-f]",
    ),
];
