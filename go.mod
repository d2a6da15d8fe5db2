module github.com/spoaguard/spoaguard

go 1.26
