package nip34
