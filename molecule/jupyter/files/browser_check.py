"""Use the hub as a new user does, in a real browser (headless Chromium), for the jupyter scenario.

    python browser_check.py session  URL HUB_NAME=IP CERT USER PASSWORD SHOTS_DIR
        log in, wait for JupyterLab, read the launcher, open a notebook on the first kernel,
        run `import sys; print(sys.prefix)` and `!conda env list`, open a terminal and
        `conda activate shared_ml` there, stop the server from the hub's control panel
    python browser_check.py launcher URL HUB_NAME=IP CERT USER PASSWORD SHOTS_DIR
        log in and read the launcher only
    python browser_check.py image URL HUB_NAME=IP CERT USER PASSWORD SHOTS_DIR CHOICE
        log in, choose CHOICE (ENV:VERSION) in the spawn form, wait for JupyterLab, open a
        notebook on the first kernel and write what it sees (its prefix, uid, whether it runs
        in a container, the conda packages of its prefix) to IMAGE_FILE in the home, stop the
        server from the hub's control panel, then submit the form with ENV:v999 put in its menu
        by hand and read the hub's answer; start on this node again from the form and stop (the
        hub remembers the last choice for starts without a form: the next story's are on the node)
    python browser_check.py slurm URL HUB_NAME=IP CERT USER PASSWORD SHOTS_DIR CHOICE REFUSED
        (a hub with jupyter_spawner slurm) log in, read the profiles the form offers, submit it with
        REFUSED (a profile of groups the user is not in, enabled in the page by hand) and read the
        hub's answer, then start CHOICE: wait for JupyterLab (the Slurm job runs), open a notebook on
        the first kernel and write what it sees (its prefix, uid, host, Slurm job, partition, GPUs)
        to SLURM_FILE in the home; the server is left running
    python browser_check.py stop URL HUB_NAME=IP CERT USER PASSWORD SHOTS_DIR
        log in and stop the server from the hub's control panel

A hub with a spawn form (jupyter_image_sessions) shows it after the login: every mode reads its
options and submits CHOICE (an optional last argument; default "", this node).

Runs on the controller with Debian's chromium and chromium-driver and selenium from
requirements-dev.txt. The browser reaches the hub by the name in its certificate
(HUB_NAME, mapped to IP) and trusts that certificate's key alone (CERT), so the page
is real HTTPS through the hub's proxy, verified.

Prints one JSON object with what the page showed (the playbook asserts on it) and saves
a screenshot per step in SHOTS_DIR; on a failure, `error` names the step and a
screenshot of the page at that moment is saved.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
NOTEBOOK_CARDS = '.jp-LauncherCard[data-category="Notebook"]'
TERMINAL_FILE = "hpcenv-browser-terminal.txt"
IMAGE_FILE = "hpcenv-image-session.json"
SLURM_FILE = "hpcenv-slurm-session.json"
# What the notebook of a server started through Slurm writes, one line.
# It also asks the hub's endpoint the job reported its port to, with the server's own token, to set
# more than a port (the hub answers 400 and sets nothing) and a port that is not a number.
SLURM_CELL = (
    "import json, os, socket, sys, urllib.request as u; o = u.OpenerDirector(); o.add_handler(u.HTTPHandler());"
    " q = lambda b: o.open(u.Request(os.environ['JUPYTERHUB_API_URL'] + '/batchspawner', json.dumps(b).encode(),"
    " {'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN']})).status;"
    " json.dump({'prefix': sys.prefix, 'uid': os.getuid(), 'host': socket.gethostname(),"
    " 'job': os.environ.get('SLURM_JOB_ID'), 'partition': os.environ.get('SLURM_JOB_PARTITION'),"
    " 'gpus': os.environ.get('CUDA_VISIBLE_DEVICES'), 'set_more': q({'port': 1, 'exec_prefix': ''}),"
    " 'set_text': q({'port': 'x'})},"
    f" open(os.path.expanduser('~/{SLURM_FILE}'), 'w')); print('written')"
)
# What the notebook in an image writes, one line (the cell is typed as a user would type it).
IMAGE_CELL = (
    "import glob, json, os, sys; json.dump({'prefix': sys.prefix, 'uid': os.getuid(),"
    " 'container': os.path.exists('/run/.containerenv'), 'image': os.environ.get('HPCENV_IMAGE'),"
    " 'dists': sorted(os.path.basename(p)[:-5] for p in glob.glob(sys.prefix + '/conda-meta/*.json'))},"
    f" open(os.path.expanduser('~/{IMAGE_FILE}'), 'w')); print('written')"
)
# The tab on show (JupyterLab keeps restored or earlier tabs in the page, hidden).
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
TERMINAL = ".jp-Terminal:not(.lm-mod-hidden)"


def spki_hash(cert_file: str) -> str:
    """The base64 SHA-256 of the certificate's public key, the form Chromium pins to."""
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def browser(resolve: str, cert_file: str, profile: str) -> webdriver.Chrome:
    name, ip = resolve.split("=", 1)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("unhandledPromptBehavior", "accept")  # "leave the page?" when a notebook is unsaved
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the controller runs the tests as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
        f"--host-resolver-rules=MAP {name} {ip}",
        f"--ignore-certificate-errors-spki-list={spki_hash(cert_file)}",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class Visit:
    """One browser session: each step is named, screenshotted and recorded."""

    def __init__(self, driver: webdriver.Chrome, shots: Path):
        self.driver = driver
        self.shots = shots
        self.count = 0
        self.seen: dict = {"steps": []}

    def shot(self, step: str) -> None:
        self.count += 1
        self.driver.save_screenshot(str(self.shots / f"{self.count:02d}-{step}.png"))
        self.seen["steps"].append(step)

    def wait(self, seconds: float = 60) -> WebDriverWait:
        return WebDriverWait(self.driver, seconds, poll_frequency=0.5)

    def visible(self, css: str, seconds: float = 60):
        return self.wait(seconds).until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def clickable(self, css: str, seconds: float = 60):
        return self.wait(seconds).until(ec.element_to_be_clickable((By.CSS_SELECTOR, css)))

    def log_in(self, base: str, user: str, password: str) -> None:
        self.driver.get(f"{base}hub/login")
        self.visible("#username_input").send_keys(user)
        self.driver.find_element(By.CSS_SELECTOR, "#password_input").send_keys(password)
        self.shot("login-page")
        self.driver.find_element(By.CSS_SELECTOR, "#login_submit").click()

    def profiles(self) -> list:
        """The spawn form's options as it shows them, without submitting it."""
        menu = Select(self.visible("#spawn_form").find_element(By.CSS_SELECTOR, "select"))
        self.shot("spawn-form-profiles")
        return [
            {"value": o.get_attribute("value"), "text": o.text.strip(), "disabled": not o.is_enabled()}
            for o in menu.options
        ]

    def spawn_form(self, choice: str) -> None:
        """Read the spawn form's options, choose CHOICE and start the server."""
        form = self.visible("#spawn_form")
        menu = Select(form.find_element(By.CSS_SELECTOR, "select"))
        self.seen["spawn_options"] = [
            {
                "value": o.get_attribute("value"),
                "text": o.text.strip(),
                "selected": o.is_selected(),
                "disabled": not o.is_enabled(),
            }
            for o in menu.options
        ]
        menu.select_by_value(choice)
        self.shot("spawn-form")
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
        self.wait(30).until(ec.staleness_of(form))

    def read_launcher(self, choice: str = "") -> None:
        """Wait for JupyterLab (the spawn included) and read the launcher's notebook kernels, in order."""
        # A user whose server was stopped meets "Server not running" and its "Launch Server" button;
        # a hub with a spawn form shows it first.
        pages = (".jp-LabShell", "#start", "#spawn_form")
        for _attempt in range(3):
            self.wait(360).until(lambda d: any(d.find_elements(By.CSS_SELECTOR, css) for css in pages))
            if self.driver.find_elements(By.CSS_SELECTOR, ".jp-LabShell"):
                break
            if self.driver.find_elements(By.CSS_SELECTOR, "#spawn_form"):
                self.spawn_form(choice)
            else:
                self.shot("server-not-running")
                self.clickable("#start").click()
                self.wait(30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#start"))
        self.visible(".jp-LabShell", seconds=360)
        # JupyterLab brings back the tabs of an earlier session (and asks for the kernels of unsaved
        # notebooks); every visit starts from the first visit's layout, the launcher.
        self.driver.get(self.driver.current_url.split("/lab", 1)[0] + "/lab?reset")
        self.visible(NOTEBOOK_CARDS, seconds=120)
        time.sleep(2)  # kernelspecs arrive in one reply; let the launcher draw them all
        cards = self.driver.find_elements(By.CSS_SELECTOR, NOTEBOOK_CARDS)
        self.seen["launcher_notebook_kernels"] = [card.get_attribute("title") for card in cards]
        self.seen["lab_url"] = self.driver.current_url
        config = self.driver.find_element(By.ID, "jupyter-config-data").get_attribute("textContent")
        self.seen["disabled_extensions"] = sorted(json.loads(config).get("disabledExtensions", {}))
        self.shot("launcher")

    def open_launcher(self) -> None:
        """The file browser's "+" (new launcher) button."""
        self.clickable("[data-command='launcher:create']").click()

    def run_cell(self, code: str, expect: str, seconds: float = 120) -> str:
        """Type CODE into the active cell, run it with Shift+Enter, and return the new output's text."""
        before = len(self.driver.find_elements(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-OutputArea-output"))
        cell = self.visible(f"{NOTEBOOK} .jp-Cell.jp-mod-active")
        editor = cell.find_element(By.CSS_SELECTOR, ".cm-content")
        editor.click()
        ActionChains(self.driver).send_keys(code).perform()
        self.shift_enter()
        prompt = cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt")
        try:  # queued ([*]) or run ([1]) within moments; a run sent while the kernel still connected is lost
            self.wait(20).until(lambda d: prompt.text.strip() not in ("", "[ ]:"))
        except TimeoutException:
            self.seen.setdefault("reruns", []).append(code)
            editor.click()
            self.shift_enter()

        def new_output(driver):
            outputs = driver.find_elements(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-OutputArea-output")
            text = "\n".join(o.text for o in outputs[before:])
            return text if expect in text else False

        return self.wait(seconds).until(new_output)

    def shift_enter(self) -> None:
        ActionChains(self.driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()

    def kernel_idle(self, driver) -> bool:
        """The status bar says the notebook's kernel is connected and idle ("Python (x) | Idle")."""
        return any("| Idle" in item.text for item in driver.find_elements(By.CSS_SELECTOR, ".jp-StatusBar-Item"))

    def notebook(self) -> None:
        self.driver.find_elements(By.CSS_SELECTOR, NOTEBOOK_CARDS)[0].click()
        self.visible(f"{NOTEBOOK} .jp-Cell .cm-content")
        self.wait(120).until(self.kernel_idle)
        kernel = self.driver.find_element(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-KernelName").text
        self.seen["notebook_kernel"] = kernel
        self.seen["sys_prefix"] = self.run_cell("import sys; print(sys.prefix)", "/").strip()
        self.seen["conda_env_list"] = self.run_cell("!conda env list", "shared_ml").splitlines()
        self.shot("notebook")
        self.save_notebook(f"browser-check-{int(time.time())}")

    def first_kernel_notebook(self, cell: str, step: str) -> None:
        """A notebook on the first kernel, running CELL (which writes what it sees to a file and prints "written")."""
        self.driver.find_elements(By.CSS_SELECTOR, NOTEBOOK_CARDS)[0].click()
        self.visible(f"{NOTEBOOK} .jp-Cell .cm-content")
        self.wait(120).until(self.kernel_idle)
        self.seen["notebook_kernel"] = self.driver.find_element(By.CSS_SELECTOR, f"{NOTEBOOK} .jp-KernelName").text
        self.run_cell(cell, "written")
        self.shot(step)

    def tampered_choice(self, base: str, value: str, answer: str = "offers") -> None:
        """Submit the spawn form with VALUE chosen in its menu by hand (added, or enabled where the
        form greys it out, as a user editing the page could); record the text of the page the hub
        answers with (it says ANSWER)."""
        self.driver.get(f"{base}hub/spawn")
        form = self.visible("#spawn_form")
        self.driver.execute_script(
            "const menu = arguments[0];"
            " let option = Array.from(menu.options).find(o => o.value === arguments[1]);"
            " if (!option) { option = new Option(arguments[1], arguments[1]); menu.add(option); }"
            " option.disabled = false; menu.value = arguments[1];",
            form.find_element(By.CSS_SELECTOR, "select"),
            value,
        )
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
        self.wait(60).until(ec.staleness_of(form))
        self.wait(60).until(lambda d: answer in d.find_element(By.TAG_NAME, "body").text)
        self.seen["tampered_page"] = self.driver.find_element(By.TAG_NAME, "body").text
        self.shot("tampered-choice")

    def start_on_node_again(self, base: str) -> None:
        """Start the server on this node from the form, and stop it: the hub remembers a user's last
        choice for starts that show no form (the REST API, a visit to /user/NAME/)."""
        self.driver.get(f"{base}hub/spawn")
        offered = self.seen["spawn_options"]
        self.spawn_form("")
        self.seen["spawn_options"] = offered
        self.visible(".jp-LabShell", seconds=360)
        self.shot("node-again")
        self.stop_server(base)

    def save_notebook(self, name: str) -> None:
        """Ctrl+S; a new notebook's first save asks for a name ("Rename and Save")."""
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()
        field = self.visible(".jp-Dialog input", seconds=30)
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(f"{name}.ipynb", Keys.ENTER)
        self.wait(30).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".jp-Dialog")))
        self.seen["saved_as"] = f"{name}.ipynb"

    def terminal(self, user_home: str) -> None:
        """Open a terminal from a new launcher and activate shared_ml as a user would.

        The terminal draws on a canvas, so what the shell saw is written to a file the
        playbook reads (the screenshot shows the prompt)."""
        self.open_launcher()
        self.clickable('.jp-LauncherCard[data-category="Other"][title*="terminal" i]').click()
        self.wait(60).until(ec.presence_of_element_located((By.CSS_SELECTOR, f"{TERMINAL} .xterm-helper-textarea")))
        time.sleep(3)  # the login shell's profile runs first
        self.clickable(f"{TERMINAL} .xterm-screen").click()  # focus goes to xterm's (hidden) input
        ActionChains(self.driver).send_keys(
            f'conda activate shared_ml && echo "$CONDA_DEFAULT_ENV $CONDA_PREFIX $(command -v python)"'
            f" > {user_home}/{TERMINAL_FILE}\n"
        ).perform()
        time.sleep(3)
        self.shot("terminal")

    def stop_server(self, base: str) -> None:
        self.driver.get(f"{base}hub/home")
        self.wait().until(lambda d: d.execute_script("return document.readyState") == "complete")
        # While the server runs the page offers "Stop My Server" and "My Server"; once it stopped, "Start My Server".
        # A click that lands before the page's script has bound the button does nothing (seen once in CI:
        # the button still there 120 s later), so a button still there after a minute is clicked again.
        for attempt in range(1, 4):
            self.clickable("#stop").click()
            try:
                self.wait(60).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, "#stop")))
                break
            except TimeoutException:
                if attempt == 3:
                    raise
        self.seen["stop_clicks"] = attempt
        self.wait(30).until(lambda d: "Start" in d.find_element(By.CSS_SELECTOR, "#start").text)
        self.seen["control_panel_after_stop"] = self.driver.find_element(By.CSS_SELECTOR, "#start").text.strip()
        self.shot("server-stopped")

    def news_toasts(self) -> list[str]:
        toasts = self.driver.find_elements(By.CSS_SELECTOR, ".jp-toast-message, .Toastify__toast")
        return [t.text for t in toasts if t.text.strip()]


def main() -> None:
    mode, base, resolve, cert_file, user, password, shots_dir = sys.argv[1:8]
    choice = sys.argv[8] if len(sys.argv) > 8 else ""
    refused = sys.argv[9] if len(sys.argv) > 9 else ""
    shots = Path(shots_dir)
    shots.mkdir(parents=True, exist_ok=True)
    step = "start the browser"
    with tempfile.TemporaryDirectory(prefix="hpcenv-chromium-") as profile:
        driver = browser(resolve, cert_file, profile)
        visit = Visit(driver, shots)
        try:
            step = "log in"
            visit.log_in(base, user, password)
            if mode == "slurm":
                step = "read the profiles"
                visit.visible("#spawn_form")
                offered = visit.seen["spawn_options"] = visit.profiles()
                step = "choose a profile of other groups"
                visit.tampered_choice(base, refused, answer="is for members of")
            if mode != "stop":
                step = "wait for JupyterLab's launcher"
                visit.read_launcher(choice)
            if mode == "slurm":
                visit.seen["spawn_options"] = offered
                step = "run a notebook in the Slurm job"
                visit.first_kernel_notebook(SLURM_CELL, "notebook-in-slurm-job")
            if mode == "stop":
                step = "wait for the running server's JupyterLab"
                visit.visible(".jp-LabShell", seconds=120)
                step = "stop the server from the control panel"
                visit.stop_server(base)
            if mode == "image":
                step = "run a notebook in the image"
                visit.first_kernel_notebook(IMAGE_CELL, "notebook-in-image")
                step = "stop the server from the control panel"
                visit.stop_server(base)
                step = "choose an image the form does not offer"
                visit.tampered_choice(base, choice.split(":")[0] + ":v999")
                step = "start on this node again, and stop"
                visit.start_on_node_again(base)
            if mode == "session":
                step = "run a notebook"
                visit.notebook()
                step = "use a terminal"
                visit.terminal(f"/home/{user}")
                visit.seen["toasts"] = visit.news_toasts()
                step = "stop the server from the control panel"
                visit.stop_server(base)
            visit.seen["error"] = None
        except (WebDriverException, LookupError, ValueError) as exc:
            message = (getattr(exc, "msg", None) or str(exc)).split("\nStacktrace:")[0].strip()
            visit.seen["error"] = f"{step}: {type(exc).__name__}: {message}"
            visit.seen["page_url"] = driver.current_url
            driver.save_screenshot(str(shots / "failed.png"))
        finally:
            driver.quit()
    print(json.dumps(visit.seen))


if __name__ == "__main__":
    main()
