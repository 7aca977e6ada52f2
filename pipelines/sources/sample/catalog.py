"""Static catalogue of the simulated tenant: Windows processes seen in firewall events.

Process metadata follows the shapes of the real advanced-hunting export in
shared/data/real/plaso/advanced_hunting_test.csv: InitiatingProcessFolderPath is the folder (without
the file name), SYSTEM/NETWORK SERVICE/LOCAL SERVICE accounts are `nt authority\\…` with their
well-known SIDs and logon ids 999/996/997.
"""

from __future__ import annotations

from dataclasses import dataclass

# Execution contexts: which account columns a process row carries.
SYSTEM, NETWORK_SERVICE, LOCAL_SERVICE, USER = "system", "network service", "local service", "user"
CONTEXT_SID = {SYSTEM: "S-1-5-18", NETWORK_SERVICE: "S-1-5-20", LOCAL_SERVICE: "S-1-5-19"}
CONTEXT_LOGON_ID = {SYSTEM: 999, NETWORK_SERVICE: 996, LOCAL_SERVICE: 997}

MS = "Microsoft Corporation"
WINDOWS = "Microsoft® Windows® Operating System"


@dataclass(frozen=True)
class Process:
    key: str
    file_name: str
    folder: str
    command_line: str
    context: str
    company: str = MS
    product: str = WINDOWS
    version: str = "10.0.19041.3636"
    description: str = ""
    parent: str = "services.exe"
    size: int = 55_456


# Processes of the steady, fleet-wide traffic and of the planted firewall stories.
BASE_PROCESSES = (
    Process("kernel", "ntoskrnl.exe", r"C:\Windows\System32", "", SYSTEM, version="10.0.19041.3693",
            description="NT Kernel & System", parent="", size=10_848_616),
    Process("dnscache", "svchost.exe", r"C:\Windows\System32", "svchost.exe -k NetworkService -p -s Dnscache",
            NETWORK_SERVICE, description="Host Process for Windows Services"),
    Process("fdphost", "svchost.exe", r"C:\Windows\System32",
            "svchost.exe -k LocalServiceAndNoImpersonation -p -s fdPHost", LOCAL_SERVICE,
            description="Host Process for Windows Services"),
    Process("termsvc", "svchost.exe", r"C:\Windows\System32", "svchost.exe -k termsvcs -s TermService",
            NETWORK_SERVICE, description="Host Process for Windows Services"),
    Process("sshd", "sshd.exe", r"C:\Windows\System32\OpenSSH", r"C:\Windows\System32\OpenSSH\sshd.exe",
            SYSTEM, company="", product="OpenSSH for Windows", version="9.5.0.0", description="OpenSSH SSH Server",
            size=1_046_016),
    Process("mpssvc", "svchost.exe", r"C:\Windows\System32", "svchost.exe -k LocalServiceNoNetworkFirewall -p",
            LOCAL_SERVICE, description="Host Process for Windows Services"),
    Process("syncagent", "syncagent.exe", r"C:\Program Files\Contoso\SyncAgent",
            r'"C:\Program Files\Contoso\SyncAgent\syncagent.exe" --service', SYSTEM, company="Contoso Ltd.",
            product="Contoso SyncAgent", version="4.2.1.0", description="Contoso file sync agent", size=8_412_160),
)

# Ordinary software whose outbound connections to internal destinations get blocked now and then,
# in popularity order (the generator draws them Zipf-like). (key, file, folder, command, context,
# company, product, internal destination ports)
BACKGROUND_OUTBOUND = (
    ("ccmexec", "CcmExec.exe", r"C:\Windows\CCM", r"C:\Windows\CCM\CcmExec.exe", SYSTEM, MS,
     "Configuration Manager Client", (80, 443, 10123)),
    ("msmpeng", "MsMpEng.exe", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0",
     '"MsMpEng.exe"', SYSTEM, MS, WINDOWS, (443,)),
    ("teams", "ms-teams.exe", r"C:\Program Files\WindowsApps\MSTeams_24243.1309.3132.617_x64__8wekyb3d8bbwe",
     '"ms-teams.exe"', USER, MS, "Microsoft Teams", (3478, 443)),
    ("msedge", "msedge.exe", r"C:\Program Files (x86)\Microsoft\Edge\Application",
     r'"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility', USER, MS,
     "Microsoft Edge", (80, 443, 8080)),
    ("onedrive", "OneDrive.exe", r"C:\Program Files\Microsoft OneDrive",
     r'"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background', USER, MS, "Microsoft OneDrive", (443,)),
    ("spoolsv", "spoolsv.exe", r"C:\Windows\System32", r"C:\Windows\System32\spoolsv.exe", SYSTEM, MS, WINDOWS,
     (9100, 515, 631)),
    ("wmiprvse", "WmiPrvSE.exe", r"C:\Windows\System32\wbem", r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding",
     NETWORK_SERVICE, MS, WINDOWS, (135, 5985)),
    ("chrome", "chrome.exe", r"C:\Program Files\Google\Chrome\Application",
     r'"C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility', USER, "Google LLC",
     "Google Chrome", (80, 443)),
    ("searchhost", "SearchHost.exe", r"C:\Windows\SystemApps\MicrosoftWindows.Client.CBS_cw5n1h2txyewy",
     '"SearchHost.exe" -ServerName:CortanaUI.AppX8z9r6jm96hw4bsbneegw0kyxx296wr9t.mca', USER, MS, WINDOWS, (443,)),
    ("zoom", "Zoom.exe", r"C:\Program Files\Zoom\bin", r'"C:\Program Files\Zoom\bin\Zoom.exe"', USER,
     "Zoom Video Communications, Inc.", "Zoom", (8801, 443)),
    ("python", "python.exe", r"C:\Program Files\Python312", r'"C:\Program Files\Python312\python.exe" -m pip',
     USER, "Python Software Foundation", "Python", (3128, 443)),
    ("java", "java.exe", r"C:\Program Files\Eclipse Adoptium\jdk-17.0.9.9-hotspot\bin",
     r'"C:\Program Files\Eclipse Adoptium\jdk-17.0.9.9-hotspot\bin\java.exe" -jar tool.jar', USER,
     "Eclipse Adoptium", "OpenJDK Platform 17.0.9", (8080, 1521)),
)

# Applications that listen and get FirewallInboundConnectionToAppBlocked on a minority of devices.
BACKGROUND_TO_APP = ("spotify", "python", "java", "node", "zoom", "vpnui")
TO_APP_EXTRA = (
    ("spotify", "Spotify.exe", r"C:\Program Files\WindowsApps\SpotifyAB.SpotifyMusic_1.248.412.0_x64__zpdnekdrzrea0",
     '"Spotify.exe"', USER, "Spotify Ltd", "Spotify"),
    ("node", "node.exe", r"C:\Program Files\nodejs", r'"C:\Program Files\nodejs\node.exe" server.js', USER,
     "Node.js", "Node.js"),
    ("vpnui", "vpnui.exe", r"C:\Program Files (x86)\Cisco\Cisco Secure Client",
     r'"C:\Program Files (x86)\Cisco\Cisco Secure Client\vpnui.exe"', USER, "Cisco Systems, Inc.",
     "Cisco Secure Client"),
)

# The planted, never-seen-before process that gets blocked outbound to public port 8443.
NEW_PATTERN_FILE = "upd4te.exe"


# A listening agent whose FirewallInboundConnectionToAppBlocked rows carry only its folder (no file
# name), while its outbound rows name the executable: the draft must resolve the folder to the .exe.
EDGE_AGENT_FOLDER = r"C:\Program Files\Fabrikam\EdgeAgent"
EDGE_AGENT = Process("edgeagent", "edgeagent.exe", EDGE_AGENT_FOLDER, rf'"{EDGE_AGENT_FOLDER}\edgeagent.exe" --mqtt',
                     SYSTEM, company="Fabrikam, Inc.", product="Fabrikam Edge Agent", version="3.1.0.0",
                     description="Fabrikam Edge Agent", size=2_211_840)
EDGE_AGENT_DIR_ONLY = Process("edgeagent:folder", "", EDGE_AGENT_FOLDER, "", SYSTEM, company="Fabrikam, Inc.",
                              product="Fabrikam Edge Agent", version="3.1.0.0", description="Fabrikam Edge Agent",
                              size=2_211_840)
# The SNMP agent: a UDP service (161) whose blocked rows carry no AdditionalFields.Protocol.
SNMP_AGENT = Process("snmp", "snmp.exe", r"C:\Windows\System32", r"C:\Windows\System32\snmp.exe", SYSTEM,
                     description="SNMP Service", size=49_152)


def background_processes() -> list[Process]:
    out = []
    for key, file, folder, cmd, ctx, company, product, *_ in BACKGROUND_OUTBOUND + TO_APP_EXTRA:
        out.append(Process(key, file, folder, cmd, ctx, company=company, product=product,
                           version="1.0.0.0" if company != MS else "10.0.19041.3636",
                           description=product, parent="explorer.exe" if ctx == USER else "services.exe",
                           size=1_000_000 + 7919 * len(file) * len(folder)))
    return out


def new_pattern_process(user: str) -> Process:
    folder = rf"C:\Users\{user}\AppData\Local\Temp"
    return Process(f"upd4te:{user}", NEW_PATTERN_FILE, folder, rf'"{folder}\{NEW_PATTERN_FILE}" /silent', USER,
                   company="", product="", version="", description="", parent="explorer.exe", size=412_672)


FIRST_NAMES = (
    "anna", "ben", "carla", "david", "elena", "farid", "grace", "hugo", "ines", "jonas", "kara", "liam",
    "maria", "nils", "olga", "pedro", "quinn", "rosa", "sami", "tara", "umar", "vera", "wen", "xavier",
    "yusuf", "zoe", "alex", "bianca", "chen", "dmitri", "emma", "felix", "gita", "henrik", "ivy", "jana",
)
LAST_NAMES = (
    "meyer", "garcia", "kowalski", "nakamura", "okafor", "silva", "jensen", "rossi", "novak", "haddad",
    "fischer", "kim", "dubois", "ivanova", "murphy", "tanaka", "petrov", "lindqvist", "costa", "weber",
    "schmidt", "moreau", "brennan", "sato", "alvarez", "berg", "hughes", "popescu", "khan", "larsen",
)
# Accounts only an attacker uses (compromised or created). Disjoint from every background name.
ATTACKER_ACCOUNTS = (
    "adm_helpdesk2", "svc_sqlrpt", "tmp_admin", "support_ext", "it_contractor", "backup_op", "x.admin",
    "sys_maint",
)
SERVICE_ACCOUNTS = ("svc_sql", "svc_web", "svc_sccm", "svc_print", "svc_monitoring", "svc_deploy")
ANALYSTS = ("Priya Raman", "Tom Becker", "Aisha Bello", "Marek Zielinski", "Lucia Ortega")

SERVER_NAMES = (
    "srv-dc01", "srv-dc02", "srv-file01", "srv-backup01", "srv-jump01", "srv-sftp01", "srv-sql01",
    "srv-web01", "srv-app01", "srv-print01", "srv-sccm01", "srv-exch01",
)
