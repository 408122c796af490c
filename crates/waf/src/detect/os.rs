//! Operating-system attacks: path traversal and local file inclusion, remote file inclusion, Unix and Windows command injection.
//! Patterns run on the lowercased, decoded value (see `super::families`); each is written
//! for a family, not for a single payload.

use super::Family;

pub(super) const PATTERNS: &[(Family, &str)] = &[
    // Traversal: `../` at a path boundary, or repeated; sensitive OS and app files.
    (Family::Traversal, r"(?:^|[/\\=:;|])\.{2,}[/\\]"),
    (Family::Traversal, r"[/\\]\.\.(?:[/\\;]|$)"),
    (Family::Traversal, r"\.\.[/\\]+\.\."),
    (
        Family::Traversal,
        r"(?:^|[/\\ ])(?:etc[/\\]+(?:passwd|shadow|group|hosts|issue|crontab|sudoers|master\.passwd|security|httpd|apache2?|nginx|mysql|php)|proc[/\\]+(?:self|\d+)[/\\]|(?:usr|var)[/\\]+(?:local|log|lib|www)[/\\]|windows[/\\]+(?:win\.ini|system32|system\.ini|repair)|boot\.ini|win\.ini|\.htaccess|\.htpasswd|\.git[/\\]|\.svn[/\\]|\.ssh[/\\]|id_[rd]sa|\.bash_(?:history|profile|rc)|\.aws[/\\]+credentials|wp-config\.php|web\.config|\.env(?:$|\.))",
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
        r"^(?:file|ftps?|gopher|dict|ldaps?|jar|tftp|netdoc|mailto):",
    ),
    // Unix and Windows command injection: a command after a shell separator or substitution.
    (
        Family::CommandInjection,
        r"(?:[;&|\n\r`]|\$\(|\{)\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|curl|netcat|ncat|nc|bash|sh|zsh|ksh|dash|csh|tcsh|python[0-9.]*|perl|ruby|php|lua|node|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|dig|ping|telnet|chmod|chown|rm|kill|killall|pkill|passwd|useradd|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|su|id|ls|cat|tac|nl|more|less|head|tail|grep|awk|gawk|sed|find|xargs|base64|xxd|od|env|printenv|ps|netstat|pwd|hostname|echo|printf|sleep|touch|mkdir|cp|mv|tar|zip|unzip|gzip|gcc|cc|make|nmap|vi|vim|ex|exec|eval|time|timeout|wc|cut|sort|uniq|strings|set|dir|type|copy|del|net|tasklist|taskkill|reg|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|sc|start|call)(?:$|[\s<>|;&`)(]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"^\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:whoami|uname|wget|curl|netcat|ncat|nc|bash|sh|zsh|ksh|dash|csh|tcsh|python[0-9.]*|perl|ruby|php|lua|node|powershell|pwsh|cmd(?:\.exe)?|systeminfo|ifconfig|ipconfig|nslookup|dig|ping|telnet|chmod|chown|rm|kill|killall|pkill|passwd|useradd|crontab|nohup|xterm|socat|tftp|ftp|scp|ssh|sudo|su|id|ls|cat|tac|nl|more|less|head|tail|grep|awk|gawk|sed|find|xargs|base64|xxd|od|env|printenv|ps|netstat|pwd|hostname|echo|printf|sleep|touch|mkdir|cp|mv|tar|zip|unzip|gzip|gcc|cc|make|nmap|vi|vim|ex|exec|eval|time|timeout|wc|cut|sort|uniq|strings|set|dir|type|copy|del|net|tasklist|taskkill|reg|certutil|bitsadmin|wmic|rundll32|regsvr32|mshta|cscript|wscript|schtasks|sc|start|call)(?:\s+[-/.$~\x22'%]|\s*[<>|;&`]|\$\{?ifs)",
    ),
    (
        Family::CommandInjection,
        r"\$\{?ifs\b|\$\((?:[a-z]|\s)|`[^`]*\b(?:[a-z]+)\b[^`]*`|\$\{[a-z_]+:[0-9]|/(?:usr/)?s?bin/[a-z]|%comspec%|\bfor\s+/[fdlr]\b|\bcmd(?:\.exe)?\s*/[ck]\b|powershell|\bshell_exec\b",
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
        r"(?:^|[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:strace|ltrace|visudo|sudoedit|cscli|ansible(?:-[a-z]+)?|chef-[a-z]+|irb|jrunscript|jjs|rmt(?:-tar)?|flock|nohup|setsid|busybox|smbclient|sqlite3|mongosh|redis-cli|crictl|systemctl|journalctl|iptables|tcpdump|tshark|gdb|lldb|valgrind|ldd|objdump|readelf|hexdump|shred|aa-[a-z]+|apt-get|dpkg|cpan|javac|tclsh|mawk|nawk|busctl|dmesg|lsof|fuser|pgrep|nproc|getent|chattr|lsattr|setcap|getcap|mknod|mkfifo|losetup|umount|chroot|unshare|nsenter|capsh|runuser|doas|pkexec|base32|uuencode|uudecode|ssh-keygen|ssh-keyscan|wget2|aria2c|lwp-(?:download|request)|w3m|elinks|uname|whoami|ifconfig|ipconfig|netcat|ncat|socat|nmap|masscan)(?:$|\s|[<>|;&`)(])",
    ),
    (
        Family::CommandInjection,
        r"(?:[;&|\n`]|\$\()\s*(?:[a-z0-9_.\[\]?*/-]*/)?(?:time|who|w|more|less|cut|sort|find|head|tail|diff|file|test|true|false|yes|read|exit|export|alias|unset|source|nice|env|id|ls|cat|nl|tac|rev|od|tee|which|whereis|locate|last|lastlog|users|groups|ip|ss|route|arp|host|dig|whois|traceroute|tracepath|mtr|curl|wget|bash|sh|mysql|psql|docker|kubectl|podman|npm|npx|pip[0-9]?|gem|go|cargo|java|openssl|rsync|gpg|tmux|screen|watch|at|script|expect|mount|service|wall|write|strings|dd|apt|yum|dnf|rpm|composer|puppet|knife|salt-[a-z]+)(?:\s+(?:[-/.$~\x22'%]|[a-z0-9_]+(?:$|\s*[;|&<>]))|$)",
    ),
    // Windows batch syntax and tools.
    (
        Family::CommandInjection,
        r"(?:^|[;&|\n])\s*(?:if\s+(?:/i\s+)?(?:not\s+)?(?:exist|defined|errorlevel|cmdextversion)\s+\S+\s+\S|if\s+(?:/i\s+)?(?:not\s+)?\S+\s*(?:==|\b(?:equ|neq|lss|leq|gtr|geq)\b)|for\s+(?:/[dlrf]\s+(?:\S+\s+)?)?%%?~?[a-z]\s+in\s*\(|@echo\s+o(?:ff|n)\b|(?:regedit|bcdboot|bcdedit|vssadmin|wevtutil|icacls|takeown|cacls|attrib|diskpart|iwr|iex|invoke-(?:webrequest|expression|restmethod)|start-process|new-object|set-executionpolicy|cmstp|msiexec|forfiles|pcalua|odbcconf|installutil|regasm|regsvcs|msbuild|wmic|bitsadmin|certutil|schtasks|net1?\s+(?:user|localgroup|share|use|view|start|stop))\b)",
    ),
    (
        Family::CommandInjection,
        r"%(?:comspec|systemroot|windir|temp|tmp|appdata|userprofile|programfiles|errorlevel|cd|path|random|username|computername)%|\^[a-z]\^[a-z]|\b(?:hkey_(?:local_machine|current_user|classes_root|users)|hklm|hkcu)\\",
    ),
    // Shell function definitions (Shellshock and friends) and history expansion.
    (Family::CommandInjection, r"\(\)\s*\{"),
];
