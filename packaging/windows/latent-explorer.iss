; Inno Setup script: a per-user installer for the Windows build, with a Start-menu entry and the
; .onnx file type (double-click opens the model in Latent Explorer). Not built or tested here
; (no Windows machine); see docs/packaging.md.
;
;   python packaging\build.py            (on Windows: writes dist\latent-explorer\)
;   iscc packaging\windows\latent-explorer.iss   (writes dist\LatentExplorer-Setup-0.1.0.exe)

#define AppName "Latent Explorer"
#define AppVersion "0.1.0"   ; keep equal to explorer/__init__.py
#define AppExe "latent-explorer.exe"

[Setup]
AppId={{6A0C7E55-3C1B-4E59-9B8B-4C7C0E5A1D11}
AppName={#AppName}
AppVersion={#AppVersion}
DefaultDirName={localappdata}\Programs\Latent Explorer
DefaultGroupName={#AppName}
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=LatentExplorer-Setup-{#AppVersion}
SetupIconFile=..\icons\latent-explorer.ico
UninstallDisplayIcon={app}\{#AppExe}
ChangesAssociations=yes
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible

[Files]
Source: "..\..\dist\latent-explorer\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{userdesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop icon"; Flags: unchecked

[Registry]
Root: HKCU; Subkey: "Software\Classes\.onnx\OpenWithProgids"; ValueType: string; ValueName: "LatentExplorer.onnx"; ValueData: ""; Flags: uninsdeletevalue
Root: HKCU; Subkey: "Software\Classes\LatentExplorer.onnx"; ValueType: string; ValueName: ""; ValueData: "ONNX model"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\LatentExplorer.onnx\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKCU; Subkey: "Software\Classes\LatentExplorer.onnx\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent
